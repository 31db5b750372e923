//! Durable events: every bus event goes to a JetStream stream, in `seq`
//! order, through an outbox that keeps it until the server acknowledged it.
//!
//! - Each event is published with the message id `<node>:<boot>:<seq>`
//!   (`boot`: when this bridge started, in ms), so a re-publish after a lost
//!   acknowledgement is dropped by the stream's duplicate window, and a node
//!   that restarts (its `seq` starts again at 1) is never mistaken for a
//!   re-publish of its previous life.
//! - One event is in flight at a time: the next is published only after the
//!   previous one was acknowledged (or found to be a duplicate). That is what
//!   keeps the stream in `seq` order across reconnects, when a message lost
//!   with a dead connection could otherwise land after its successor.
//! - The outbox is bounded (events and bytes). When it is full, the oldest
//!   waiting events are replaced by one `lagged` marker that counts them: the
//!   stream then shows an explicit gap, never a silent one.
//! - The outbox lives in memory: it survives NATS outages, not the death of
//!   warden itself (the transcripts on disk keep the output).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, Context, context::PublishAckFuture, message::PublishMessage, stream};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};
use warden_actors::{EventBus, Subscription};
use warden_core::{Event, EventKind};

use crate::Stats;
use crate::config::JetStreamConfig;
use crate::error::BridgeError;
use crate::publish::{catch_up_from, drained};
use crate::subjects::Subjects;

/// The stream's subject filter for `prefix`.
pub fn stream_subjects(prefix: &str) -> String {
    format!("{prefix}.*.evt.>")
}

/// Creates the events stream, or checks the existing one covers our subjects.
pub async fn ensure_stream(js: &Context, prefix: &str, config: &JetStreamConfig) -> Result<String, BridgeError> {
    let name = config.stream_name(prefix);
    let subject = stream_subjects(prefix);
    let wanted = stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        storage: stream::StorageType::File,
        duplicate_window: Duration::from_secs(config.duplicate_window_secs.max(1)),
        max_age: Duration::from_secs(config.max_age_secs),
        max_bytes: config.max_bytes,
        ..Default::default()
    };
    let mut s = js.get_or_create_stream(wanted).await.map_err(|e| {
        BridgeError::JetStream(format!(
            "cannot create or open the JetStream stream {name}: {e} (is JetStream enabled on the server, nats-server -js?)"
        ))
    })?;
    let info = s.info().await.map_err(|e| BridgeError::JetStream(format!("cannot read stream {name}: {e}")))?;
    if !info.config.subjects.contains(&subject) {
        return Err(BridgeError::JetStream(format!(
            "stream {name} exists but does not hold {subject} (it holds {:?}); name another stream in the configuration",
            info.config.subjects
        )));
    }
    Ok(name)
}

/// One event waiting for the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Its `seq` (for a `lagged` marker: the last event it stands for).
    pub seq: u64,
    /// Events it stands for: 1, or the count of a `lagged` marker.
    pub count: u64,
    /// Whether it is a marker the outbox made.
    pub marker: bool,
    /// Subject.
    pub subject: String,
    /// JSON of the event.
    pub payload: Bytes,
    /// `Nats-Msg-Id`.
    pub msg_id: String,
}

/// The bounded queue of events not yet acknowledged.
#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Pending>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    subjects: Subjects,
    boot: u64,
    dropped: u64,
}

impl Outbox {
    /// An empty outbox for a node's events. At least two events fit.
    pub fn new(subjects: Subjects, boot: u64, max_events: usize, max_bytes: usize) -> Self {
        Outbox {
            queue: VecDeque::new(),
            bytes: 0,
            max_events: max_events.max(2),
            max_bytes,
            subjects,
            boot,
            dropped: 0,
        }
    }

    /// The message id of an event.
    pub fn msg_id(&self, seq: u64, marker: bool) -> String {
        let node = self.subjects.node();
        if marker { format!("{node}:{}:{seq}:lagged", self.boot) } else { format!("{node}:{}:{seq}", self.boot) }
    }

    fn pending(&self, event: &Event, marker: bool) -> Pending {
        let count = match (&event.kind, marker) {
            (EventKind::Lagged { missed }, true) => *missed,
            _ => 1,
        };
        Pending {
            seq: event.seq,
            count,
            marker,
            subject: self.subjects.event(event.session, event.kind_name()),
            payload: Bytes::from(event.to_json()),
            msg_id: self.msg_id(event.seq, marker),
        }
    }

    /// Queues an event, shedding the oldest waiting ones when full.
    pub fn push(&mut self, event: &Event) {
        let p = self.pending(event, false);
        self.bytes += p.payload.len();
        self.queue.push_back(p);
        while self.queue.len() > self.max_events || (self.bytes > self.max_bytes && self.queue.len() > 1) {
            self.shed_one();
        }
    }

    /// Replaces the two oldest entries by one `lagged` marker covering both.
    fn shed_one(&mut self) {
        let (Some(a), Some(b)) = (self.queue.pop_front(), self.queue.pop_front()) else { return };
        self.bytes -= a.payload.len() + b.payload.len();
        self.dropped += u64::from(!a.marker) + u64::from(!b.marker);
        let missed = a.count + b.count;
        let marker = Event::new(b.seq, self.subjects.node().to_string(), None, EventKind::Lagged { missed });
        let p = self.pending(&marker, true);
        self.bytes += p.payload.len();
        self.queue.push_front(p);
    }

    /// The oldest entry, removed.
    pub fn pop(&mut self) -> Option<Pending> {
        let p = self.queue.pop_front()?;
        self.bytes -= p.payload.len();
        Some(p)
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Events dropped because the outbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

async fn publish_one(js: Context, p: Pending) -> Result<jetstream::publish::PublishAck, String> {
    let msg = PublishMessage::build().payload(p.payload).message_id(&p.msg_id);
    let ack: PublishAckFuture = js.send_publish(p.subject, msg).await.map_err(|e| e.to_string())?;
    ack.await.map_err(|e| e.to_string())
}

fn retry_delay(failures: u32) -> Duration {
    Duration::from_millis(50u64 << failures.min(5)).min(Duration::from_secs(1))
}

/// Reads the bus into the outbox and publishes it to JetStream, one
/// acknowledged event at a time, until drained or stopped.
pub(crate) async fn outbox_pump(
    js: Context,
    bus: EventBus,
    mut sub: Subscription,
    mut outbox: Outbox,
    stats: Arc<Stats>,
    mut drain: watch::Receiver<Option<u64>>,
) {
    let mut last_seen = 0u64;
    let mut current: Option<Pending> = None;
    let mut inflight: Option<BoxFuture<'static, Result<jetstream::publish::PublishAck, String>>> = None;
    let mut retry_at: Option<Instant> = None;
    let mut failures = 0u32;
    let mut bus_open = true;
    let mut just_resubscribed = false;
    loop {
        if current.is_none() {
            current = outbox.pop();
        }
        if inflight.is_none() && retry_at.is_none_or(|t| t <= Instant::now()) {
            retry_at = None;
            if let Some(p) = &current {
                inflight = Some(publish_one(js.clone(), p.clone()).boxed());
            }
        }
        stats.outbox_len.store((outbox.len() + usize::from(current.is_some())) as u64, Ordering::Relaxed);
        stats.outbox_dropped.store(outbox.dropped(), Ordering::Relaxed);
        let target = *drain.borrow();
        if current.is_none() && (!bus_open || drained(target, last_seen)) && target.is_some() {
            break;
        }
        tokio::select! {
            r = async { inflight.as_mut().expect("guarded by the select condition").await }, if inflight.is_some() => {
                inflight = None;
                match r {
                    Ok(ack) => {
                        if let Some(p) = current.take() {
                            stats.js_acked_seq.store(p.seq, Ordering::Relaxed);
                            stats.events_published.fetch_add(1, Ordering::Relaxed);
                        }
                        if failures > 0 {
                            info!(stream_seq = ack.sequence, "JetStream publishing resumed");
                        }
                        failures = 0;
                    }
                    Err(e) => {
                        if failures == 0 {
                            warn!(error = %e, "JetStream publish failed; keeping events in the outbox and retrying");
                        }
                        failures = failures.saturating_add(1);
                        retry_at = Some(Instant::now() + retry_delay(failures));
                    }
                }
            }
            _ = tokio::time::sleep_until(retry_at.unwrap_or_else(Instant::now)), if retry_at.is_some() && inflight.is_none() => {
                retry_at = None;
            }
            e = sub.recv(), if bus_open => {
                match e {
                    None => bus_open = false,
                    Some(event) => {
                        // Fell behind the bus: read the missed events from
                        // its replay buffer. If they are gone from it too,
                        // the new subscription starts with a marker, which
                        // goes to the stream.
                        if let Some(from) = catch_up_from(&event, just_resubscribed, last_seen) {
                            sub = bus.subscribe(Some(from));
                            just_resubscribed = true;
                            continue;
                        }
                        just_resubscribed = false;
                        last_seen = last_seen.max(event.seq);
                        outbox.push(&event);
                    }
                }
            }
            r = drain.changed() => {
                if r.is_err() {
                    break;
                }
            }
        }
    }
}
