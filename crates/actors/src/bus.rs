//! The event bus: one ordered stream per node.
//!
//! Publishing assigns the next `seq` and stamps the event and appends it to
//! a replay buffer bounded by events and bytes. A subscription is a position
//! in that buffer: it can start from any `seq` still held, and one that
//! falls out of it (or more than [`BusLimits::subscriber_capacity`] events
//! behind) receives a `lagged` marker with the number of events it missed,
//! never a silent gap. So what subscribers have not read is held once, by
//! the buffer: a subscription that stops reading pins nothing more (with a
//! broadcast channel it pinned up to its capacity of events, ~1 GiB of a
//! flood's 64 KiB output events).
//!
//! The bus is a small lock-guarded sequencer rather than an actor: publishing
//! is on the output hot path, must never wait, and must give every publisher
//! one total order. The lock covers a counter and a ring push (no IO, no
//! await), so it is held for well under a microsecond; a subscriber takes it
//! to read one event.
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

use tokio::sync::Notify;
use warden_core::{Event, EventKind, SessionId};

/// Bounds of the bus.
#[derive(Debug, Clone, Copy)]
pub struct BusLimits {
    /// Events a live subscriber may fall behind before it gets `lagged`
    /// (fewer when the replay buffer's bounds keep fewer: a subscriber reads
    /// from that buffer, so what it has not read yet is never held twice).
    /// At least 16.
    pub subscriber_capacity: usize,
    /// Events kept for replay at most (at least 16)…
    pub replay_events: usize,
    /// …and bytes (as [`Event::approx_size`]) kept for replay at most (at
    /// least 1 MiB). All subscriptions together hold no more than this and
    /// one event each, however slowly they read.
    pub replay_bytes: usize,
}

impl Default for BusLimits {
    fn default() -> Self {
        BusLimits { subscriber_capacity: 16 * 1024, replay_events: 100_000, replay_bytes: 32 * 1024 * 1024 }
    }
}

/// The least [`BusLimits::subscriber_capacity`] and [`BusLimits::replay_events`]
/// a bus takes (smaller values are raised to it).
const MIN_EVENTS: usize = 16;
/// The least [`BusLimits::replay_bytes`] a bus takes.
const MIN_REPLAY_BYTES: usize = 1 << 20;

struct Ring {
    next_seq: u64,
    /// Contiguous `seq`s: `events[i].seq == oldest + i`.
    events: VecDeque<Arc<Event>>,
    bytes: usize,
    /// No publisher is left: subscriptions end once they have read the rest.
    closed: bool,
}

impl Ring {
    fn oldest(&self) -> u64 {
        self.events.front().map_or(self.next_seq, |e| e.seq)
    }
}

/// What publishers and subscriptions share.
struct Core {
    node: String,
    limits: BusLimits,
    ring: Mutex<Ring>,
    /// Woken on every publish and when the bus closes.
    published: Notify,
}

impl Core {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding this lock cannot leave the ring inconsistent
        // (each step is a single push/pop), so a poisoned lock is still usable.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The publishing side; when the last [`EventBus`] goes, the bus closes.
struct Shared {
    core: Arc<Core>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.core.ring().closed = true;
        self.core.published.notify_waiters();
    }
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
    pub(crate) fn new(node: impl Into<String>, mut limits: BusLimits) -> Self {
        // Subscribers read from the ring: with less than this they could read
        // nothing but `lagged` markers.
        limits.subscriber_capacity = limits.subscriber_capacity.max(MIN_EVENTS);
        limits.replay_events = limits.replay_events.max(MIN_EVENTS);
        limits.replay_bytes = limits.replay_bytes.max(MIN_REPLAY_BYTES);
        let ring = Ring { next_seq: 1, events: VecDeque::new(), bytes: 0, closed: false };
        let core = Core { node: node.into(), limits, ring: Mutex::new(ring), published: Notify::new() };
        EventBus { shared: Arc::new(Shared { core: Arc::new(core) }) }
    }

    /// The node name events carry.
    pub fn node(&self) -> &str {
        &self.shared.core.node
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.shared.core.ring()
    }

    /// Records an event and returns its `seq`. Crate-internal: only warden's
    /// actors publish.
    pub(crate) fn publish(&self, session: Option<SessionId>, kind: EventKind) -> u64 {
        let core = &self.shared.core;
        let seq = {
            let mut ring = core.ring();
            let seq = ring.next_seq;
            ring.next_seq += 1;
            let event = Arc::new(Event::new(seq, core.node.clone(), session, kind));
            ring.bytes += event.approx_size();
            ring.events.push_back(event);
            let limits = &core.limits;
            while ring.events.len() > limits.replay_events
                || (ring.bytes > limits.replay_bytes && ring.events.len() > 1)
            {
                if let Some(old) = ring.events.pop_front() {
                    ring.bytes -= old.approx_size();
                }
            }
            seq
        };
        core.published.notify_waiters();
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

    /// Subscribes to events with `seq >= from_seq` (`None`, or a `seq` the
    /// bus has not given yet: only new ones).
    ///
    /// Events older than the replay buffer are gone; the subscription then
    /// starts with a `lagged` marker counting them.
    pub fn subscribe(&self, from_seq: Option<u64>) -> Subscription {
        let live_from = self.ring().next_seq;
        // A `seq` not given yet (one kept from before the node restarted, when
        // `seq`s began at 1 again) starts with what comes next, as `None` does.
        let next = from_seq.map_or(live_from, |from| from.clamp(1, live_from));
        Subscription { core: self.shared.core.clone(), at: Position { next, live_from, filter: None } }
    }
}

fn lagged(node: &str, last_missed: u64, missed: u64) -> Event {
    Event::new(last_missed, node.to_string(), None, EventKind::Lagged { missed })
}

/// How many events one look at the ring skips at most for a subscription
/// that keeps one session's, before it lets publishers in again.
const SCAN_PER_LOCK: usize = 1024;

/// A stream of events from the bus, in `seq` order.
///
/// A subscription is a position in the bus's replay buffer, not a queue of
/// its own: what it has not read yet is held once, by the bus, and is
/// bounded by [`BusLimits`] however slowly it reads (or if it never does).
pub struct Subscription {
    core: Arc<Core>,
    at: Position,
}

/// Where a subscription reads.
struct Position {
    /// The `seq` it reads next.
    next: u64,
    /// The bus's next `seq` when it subscribed: up to there it replays, and
    /// only from there does [`BusLimits::subscriber_capacity`] apply.
    live_from: u64,
    filter: Option<SessionId>,
}

/// What one look at the ring found.
enum Look {
    Event(Arc<Event>),
    /// Skipped events of other sessions; look again.
    Skipped,
    /// Nothing yet.
    Empty,
    /// Nothing, and nothing will come.
    Closed,
}

impl Subscription {
    /// Keeps only events of one session (and `lagged` markers).
    pub fn only_session(mut self, id: SessionId) -> Self {
        self.at.filter = Some(id);
        self
    }

    /// The next event, or `None` when the bus is gone.
    ///
    /// A subscriber that fell behind gets one `lagged` event (its `seq` is the
    /// last missed one) and then continues with the oldest event still held.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        loop {
            // Made before looking: a publish between the look and the wait
            // still completes it.
            let published = self.core.published.notified();
            match self.at.look(&self.core) {
                Look::Event(e) => return Some(e),
                Look::Skipped => continue,
                Look::Closed => return None,
                Look::Empty => published.await,
            }
        }
    }

    /// Like [`Subscription::recv`] but gives up after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: std::time::Duration) -> Option<Arc<Event>> {
        tokio::time::timeout(timeout, self.recv()).await.ok().flatten()
    }
}

impl Position {
    fn look(&mut self, core: &Core) -> Look {
        let ring = core.ring();
        let oldest = ring.oldest();
        let floor = if self.next < self.live_from {
            oldest
        } else {
            oldest.max(ring.next_seq.saturating_sub(core.limits.subscriber_capacity as u64))
        };
        if self.next < floor {
            let missed = floor - self.next;
            tracing::debug!(missed, from = self.next, to = floor, "a subscription fell behind the event bus");
            self.next = floor;
            return Look::Event(Arc::new(lagged(&core.node, floor - 1, missed)));
        }
        // `seq`s in the ring are contiguous, so this is the index of `next`.
        let start = (self.next - oldest) as usize;
        for e in ring.events.range(start.min(ring.events.len())..).take(SCAN_PER_LOCK) {
            self.next = e.seq + 1;
            if self.filter.is_none_or(|id| e.session == Some(id)) {
                return Look::Event(e.clone());
            }
        }
        if self.next < ring.next_seq {
            Look::Skipped
        } else if ring.closed {
            Look::Closed
        } else {
            Look::Empty
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;
    use std::time::Duration;

    use warden_core::Output;

    use super::*;

    fn output(n: usize) -> EventKind {
        EventKind::Output(Output::new(vec![b'x'; n]))
    }

    fn small() -> BusLimits {
        BusLimits { subscriber_capacity: 1000, replay_events: 1000, replay_bytes: 1024 * 1024 }
    }

    #[tokio::test]
    async fn a_subscription_that_never_reads_pins_nothing_past_the_replay_buffer() {
        let bus = EventBus::new("n", small());
        let _unread = bus.subscribe(None);
        let _unread_too = bus.subscribe(Some(1));
        bus.publish(Some(SessionId::new()), output(64 * 1024));
        let first: Weak<Event> = Arc::downgrade(bus.ring().events.front().expect("held"));
        // 32 MiB of output: 32 times the replay buffer's bytes, and fewer
        // events than a subscriber may fall behind.
        for _ in 0..512 {
            bus.publish(None, output(64 * 1024));
        }
        assert!(first.upgrade().is_none(), "an unread subscription kept an event the replay buffer let go");
        assert!(bus.ring().bytes <= 1024 * 1024 + 64 * 1024 + 200);
    }

    #[tokio::test]
    async fn a_slow_subscription_is_told_what_it_missed_then_reads_on_in_order() {
        let bus = EventBus::new("n", small());
        let mut sub = bus.subscribe(None);
        for _ in 0..100 {
            bus.publish(None, output(64 * 1024));
        }
        // 1 MiB of 64 KiB events holds 15 of them (each counts a little more).
        let lag = sub.recv().await.expect("event");
        let EventKind::Lagged { missed } = lag.kind else { panic!("expected lagged, got {lag:?}") };
        assert_eq!(lag.seq, missed, "the marker's seq is the last one missed");
        let mut seq = lag.seq;
        while seq < 100 {
            let e = sub.recv().await.expect("event");
            assert_eq!(e.seq, seq + 1, "no silent gap");
            seq = e.seq;
        }
        assert_eq!(bus.oldest_seq(), Some(lag.seq + 1));
    }

    #[tokio::test]
    async fn a_waiting_subscription_wakes_on_publish_and_ends_with_the_bus() {
        let bus = EventBus::new("n", BusLimits::default());
        let id = SessionId::new();
        let mut all = bus.subscribe(None);
        let mut one = bus.subscribe(None).only_session(id);
        let waiting = tokio::spawn(async move {
            let mut seqs = Vec::new();
            while let Some(e) = one.recv().await {
                seqs.push(e.seq);
            }
            seqs
        });
        tokio::task::yield_now().await;
        bus.publish(None, EventKind::Error { message: "other".into() });
        bus.publish(Some(id), output(3));
        assert_eq!(all.recv_timeout(Duration::from_secs(5)).await.map(|e| e.seq), Some(1));
        drop(bus);
        // What was published before the bus went is still read, then the end.
        assert_eq!(all.recv().await.map(|e| e.seq), Some(2));
        assert!(all.recv().await.is_none());
        let seqs = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("ends").expect("joins");
        assert_eq!(seqs, vec![2]);
    }

    #[tokio::test]
    async fn bounds_too_small_to_read_from_are_raised_and_a_future_seq_starts_live() {
        let bus = EventBus::new("n", BusLimits { subscriber_capacity: 0, replay_events: 0, replay_bytes: 0 });
        let mut live = bus.subscribe(None);
        // A `seq` kept from before a restart, far ahead of this bus.
        let mut ahead = bus.subscribe(Some(1000));
        for _ in 0..3 {
            bus.publish(None, output(10));
        }
        for sub in [&mut live, &mut ahead] {
            for want in 1..=3 {
                let e = sub.recv_timeout(Duration::from_secs(5)).await.expect("event");
                assert_eq!((e.seq, e.kind_name()), (want, "output"));
            }
        }
    }

    #[tokio::test]
    async fn a_session_filter_skips_long_runs_of_other_sessions() {
        let bus = EventBus::new("n", BusLimits::default());
        let id = SessionId::new();
        let mut one = bus.subscribe(None).only_session(id);
        for _ in 0..(3 * SCAN_PER_LOCK) {
            bus.publish(Some(SessionId::new()), output(1));
        }
        let seq = bus.publish(Some(id), output(1));
        assert_eq!(one.recv_timeout(Duration::from_secs(5)).await.map(|e| e.seq), Some(seq));
    }
}
