//! Publishing the bus over core NATS: raw output on `out.<session>`, every
//! event on `evt.<session>.<kind>` (unless JetStream carries them), and the
//! heartbeat.
//!
//! Core NATS is at-most-once: while the server is away the client buffers
//! what it can. A pump that falls behind the bus reads the missed events
//! from the bus's replay buffer; only when they are gone from it too does it
//! publish the bus's `lagged` marker, so subscribers see a gap instead of
//! missing it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap};
use tokio::sync::watch;
use tracing::debug;
use warden_actors::{EventBus, Subscription, Warden};
use warden_core::{EventKind, SessionFilter};

use crate::Stats;
use crate::protocol::{Heartbeat, PROTOCOL_VERSION};
use crate::subjects::Subjects;

/// Header carrying the event `seq` on raw output messages.
pub const SEQ_HEADER: &str = "Warden-Seq";

/// Header carrying the output's offset on raw output messages: how many
/// bytes the session printed before this message's first byte. A reader
/// that sees an offset past the end of the last message it got has missed
/// output (the publisher fell behind, or the server dropped messages to a
/// slow reader).
pub const OFFSET_HEADER: &str = "Warden-Offset";

/// Where a pump stands relative to a drain request.
pub(crate) fn drained(target: Option<u64>, last_seen: u64) -> bool {
    target.is_some_and(|t| last_seen >= t)
}

/// When `event` is the bus's `lagged` marker for this subscriber (and we did
/// not just resubscribe), the `seq` to resubscribe from to read the missed
/// events from the replay buffer.
pub(crate) fn catch_up_from(event: &warden_core::Event, just_resubscribed: bool, last_seen: u64) -> Option<u64> {
    match event.kind {
        EventKind::Lagged { missed } if !just_resubscribed && event.session.is_none() && missed > 0 => {
            let first_missed = event.seq + 1 - missed.min(event.seq);
            Some(first_missed.max(last_seen + 1))
        }
        _ => None,
    }
}

/// Publishes raw output (and, without JetStream, every event) from the bus.
pub(crate) async fn core_pump(
    client: Client,
    bus: EventBus,
    subjects: Subjects,
    publish_events: bool,
    mut sub: Subscription,
    stats: Arc<Stats>,
    mut drain: watch::Receiver<Option<u64>>,
) {
    let mut last_seen = 0;
    let mut just_resubscribed = false;
    loop {
        if drained(*drain.borrow(), last_seen) {
            break;
        }
        let event = tokio::select! {
            e = sub.recv() => e,
            r = drain.changed() => { if r.is_err() { break } continue }
        };
        let Some(event) = event else { break };
        if let Some(from) = catch_up_from(&event, just_resubscribed, last_seen) {
            sub = bus.subscribe(Some(from));
            just_resubscribed = true;
            continue;
        }
        just_resubscribed = false;
        last_seen = last_seen.max(event.seq);
        if let (EventKind::Output(o), Some(session)) = (&event.kind, event.session) {
            let mut headers = HeaderMap::new();
            headers.insert(SEQ_HEADER, event.seq.to_string().as_str());
            headers.insert(OFFSET_HEADER, o.offset.to_string().as_str());
            if let Err(e) = client.publish_with_headers(subjects.output(session), headers, o.bytes.clone()).await {
                debug!(error = %e, "cannot publish output");
            }
            stats.output_bytes.fetch_add(o.bytes.len() as u64, Ordering::Relaxed);
        }
        if publish_events {
            let subject = subjects.event(event.session, event.kind_name());
            if let Err(e) = client.publish(subject, event.to_json().into()).await {
                debug!(error = %e, "cannot publish an event");
            }
            stats.events_published.fetch_add(1, Ordering::Relaxed);
        }
        stats.core_seq.store(event.seq, Ordering::Relaxed);
    }
}

/// Publishes a heartbeat at once and then every `every`, until `stop`.
pub(crate) async fn heartbeat(
    warden: Warden,
    client: Client,
    subjects: Subjects,
    every: Duration,
    jetstream: bool,
    stats: Arc<Stats>,
    mut stop: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let live = warden.list(SessionFilter::live()).await.unwrap_or_default();
        let mut pending_confirmations = 0;
        for session in &live {
            // A session that ended meanwhile has none left.
            pending_confirmations += warden.pending_confirmations(session.id).await.map(|p| p.len()).unwrap_or(0);
        }
        let hb = Heartbeat {
            v: PROTOCOL_VERSION,
            node: subjects.node().to_string(),
            ts: warden_core::event::timestamp(std::time::SystemTime::now()),
            seq: warden.bus().next_seq().saturating_sub(1),
            sessions: live.len(),
            pending_confirmations,
            max_sessions: warden.config().max_sessions,
            load1: load_average(),
            uptime_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
            jetstream,
            outbox: jetstream.then(|| stats.outbox_len.load(Ordering::Relaxed) as usize),
        };
        let payload = serde_json::to_vec(&hb).expect("heartbeats always serialise: plain data");
        if let Err(e) = client.publish(subjects.heartbeat(), payload.into()).await {
            debug!(error = %e, "cannot publish the heartbeat");
        }
    }
}

/// The one-minute load average from `/proc/loadavg`.
fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
