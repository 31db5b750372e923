//! The event bus: one ordered stream per node.
//!
//! Publishing assigns the next `seq` and stamps the event, appends it to a
//! bounded replay buffer and broadcasts it to subscribers. A subscriber can
//! start from any `seq` still in the replay buffer; one that falls behind the
//! broadcast capacity receives a `lagged` marker with the number of events it
//! missed, never a silent gap.
//!
//! The bus is a small lock-guarded sequencer rather than an actor: publishing
//! is on the output hot path, must never wait, and must give every publisher
//! one total order. The lock covers a counter, a ring push and a broadcast
//! send (no IO, no await), so it is held for well under a microsecond.
//!
//! Only warden's own actors publish: [`EventBus::publish`] is crate-internal,
//! so what an embedder (the bridge, the CLI, a coordinator) holds through
//! [`Warden::bus`](crate::Warden::bus) is subscribe-only and cannot forge an
//! event, such as an `exited` for a session that still runs:
//!
//! ```compile_fail
//! # fn forge(warden: warden_actors::Warden, id: warden_core::SessionId) {
//! let forged = warden_core::EventKind::Error { message: "forged".into() };
//! warden.bus().publish(Some(id), forged);
//! # }
//! ```
//!
//! Reading is open to everyone:
//!
//! ```no_run
//! # async fn read(warden: warden_actors::Warden) {
//! let mut events = warden.bus().subscribe(Some(warden.bus().next_seq()));
//! while let Some(event) = events.recv().await {
//!     println!("{} {}", event.seq, event.kind_name());
//! }
//! # }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;
use warden_core::{Event, EventKind, SessionId};

/// Bounds of the bus.
#[derive(Debug, Clone, Copy)]
pub struct BusLimits {
    /// Events a live subscriber may fall behind before it gets `lagged`.
    pub subscriber_capacity: usize,
    /// Events kept for replay at most…
    pub replay_events: usize,
    /// …and bytes (as [`Event::approx_size`]) kept for replay at most.
    pub replay_bytes: usize,
}

impl Default for BusLimits {
    fn default() -> Self {
        BusLimits { subscriber_capacity: 16 * 1024, replay_events: 100_000, replay_bytes: 32 * 1024 * 1024 }
    }
}

struct Ring {
    next_seq: u64,
    events: VecDeque<Arc<Event>>,
    bytes: usize,
}

struct Shared {
    node: String,
    limits: BusLimits,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<Event>>,
}

/// The node's event bus. Cheap to clone.
///
/// Outside `warden-actors` it is subscribe-only ([`EventBus::subscribe`],
/// [`EventBus::next_seq`], [`EventBus::oldest_seq`]); publishing belongs to
/// the actors.
#[derive(Clone)]
pub struct EventBus {
    shared: Arc<Shared>,
}

impl EventBus {
    /// A bus for `node`.
    pub(crate) fn new(node: impl Into<String>, limits: BusLimits) -> Self {
        let (tx, _) = broadcast::channel(limits.subscriber_capacity.max(16));
        let ring = Ring { next_seq: 1, events: VecDeque::new(), bytes: 0 };
        EventBus { shared: Arc::new(Shared { node: node.into(), limits, ring: Mutex::new(ring), tx }) }
    }

    /// The node name events carry.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring inconsistent
        // (each step is a single push/pop), so a poisoned lock is still usable.
        self.shared.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event and returns its `seq`. Crate-internal: only warden's
    /// actors publish.
    pub(crate) fn publish(&self, session: Option<SessionId>, kind: EventKind) -> u64 {
        let mut ring = self.ring();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        let event = Arc::new(Event::new(seq, self.shared.node.clone(), session, kind));
        ring.bytes += event.approx_size();
        ring.events.push_back(event.clone());
        let limits = &self.shared.limits;
        while ring.events.len() > limits.replay_events || (ring.bytes > limits.replay_bytes && ring.events.len() > 1) {
            if let Some(old) = ring.events.pop_front() {
                ring.bytes -= old.approx_size();
            }
        }
        // No receiver is fine: events stay in the replay buffer.
        let _ = self.shared.tx.send(event);
        seq
    }

    /// Test hook: publishes a synthetic event, for tests and benchmarks of the
    /// bus and its consumers (lag markers, replay, NATS throughput). Only with
    /// the `test-hooks` feature, which release builds never enable.
    #[cfg(feature = "test-hooks")]
    pub fn inject(&self, session: Option<SessionId>, kind: EventKind) -> u64 {
        self.publish(session, kind)
    }

    /// The `seq` the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.ring().next_seq
    }

    /// The oldest `seq` still in the replay buffer, if any.
    pub fn oldest_seq(&self) -> Option<u64> {
        self.ring().events.front().map(|e| e.seq)
    }

    /// Subscribes to events with `seq >= from_seq` (`None`: only new ones).
    ///
    /// Events older than the replay buffer are gone; the subscription then
    /// starts with a `lagged` marker counting them.
    pub fn subscribe(&self, from_seq: Option<u64>) -> Subscription {
        let ring = self.ring();
        let rx = self.shared.tx.subscribe();
        let mut backlog = VecDeque::new();
        let mut missed_before = 0;
        if let Some(from) = from_seq {
            let from = from.max(1);
            let oldest = ring.events.front().map(|e| e.seq).unwrap_or(ring.next_seq);
            if from < oldest {
                missed_before = oldest - from;
            }
            backlog.extend(ring.events.iter().filter(|e| e.seq >= from).cloned());
        }
        let next_expected = ring.next_seq;
        drop(ring);
        let mut sub =
            Subscription { node: self.shared.node.clone(), rx, backlog, next_live: next_expected, filter: None };
        if missed_before > 0 {
            let first = sub.backlog.front().map(|e| e.seq).unwrap_or(next_expected);
            sub.backlog.push_front(Arc::new(lagged(&sub.node, first.saturating_sub(1), missed_before)));
        }
        sub
    }
}

fn lagged(node: &str, last_missed: u64, missed: u64) -> Event {
    Event::new(last_missed, node.to_string(), None, EventKind::Lagged { missed })
}

/// A stream of events from the bus, in `seq` order.
pub struct Subscription {
    node: String,
    rx: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Arc<Event>>,
    next_live: u64,
    filter: Option<SessionId>,
}

impl Subscription {
    /// Keeps only events of one session (and `lagged` markers).
    pub fn only_session(mut self, id: SessionId) -> Self {
        self.filter = Some(id);
        self.backlog.retain(|e| e.session == Some(id) || matches!(e.kind, EventKind::Lagged { .. }));
        self
    }

    /// The next event, or `None` when the bus is gone.
    ///
    /// A subscriber that fell behind gets one `lagged` event (its `seq` is the
    /// last missed one) and then continues with the oldest event still held.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                return Some(e);
            }
            match self.rx.recv().await {
                Ok(e) => {
                    if e.seq < self.next_live {
                        continue; // already delivered from the replay buffer
                    }
                    self.next_live = e.seq + 1;
                    if self.filter.is_some_and(|id| e.session != Some(id)) {
                        continue;
                    }
                    return Some(e);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let last_missed = self.next_live + missed - 1;
                    self.next_live = last_missed + 1;
                    return Some(Arc::new(lagged(&self.node, last_missed, missed)));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Like [`Subscription::recv`] but gives up after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: std::time::Duration) -> Option<Arc<Event>> {
        tokio::time::timeout(timeout, self.recv()).await.ok().flatten()
    }
}
