//! Per-session lanes: the commands that act on one session's terminal run
//! one after another in the order they arrived, without holding up the
//! serving loop or other sessions.
//!
//! Acknowledged input (`send_to_agent` with text) waits until the screen
//! shows the input taken, up to a few seconds; run in the serving loop, one
//! agent that ignores its input would stall every command of the node. A
//! lane is a chain of tasks: each job first waits for the previous job of
//! its session, so keystrokes keep their order while other sessions and
//! other verbs go on.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::task::JoinHandle;
use warden_core::SessionId;

/// Below this many lanes, finished ones are not pruned.
const PRUNE_FLOOR: usize = 64;

/// Most jobs waiting in one session's lane; beyond it the caller is told
/// to retry (the loop never queues without bound behind a slow agent).
pub(crate) const MAX_LANE_DEPTH: usize = 1024;
/// Most request bytes waiting in one session's lane (a job larger than
/// this still goes into an empty lane).
pub(crate) const MAX_LANE_BYTES: usize = 8 * 1024 * 1024;
/// Most request bytes waiting in all lanes of one serving loop together:
/// what callers can make a node hold does not grow with its sessions.
pub(crate) const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

struct Lane {
    tail: JoinHandle<()>,
    depth: Arc<AtomicUsize>,
    bytes: Arc<AtomicUsize>,
}

/// Why a lane takes no more for now (the caller is told to retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LaneFull {
    /// [`MAX_LANE_DEPTH`] jobs wait in the session's lane.
    Depth,
    /// [`MAX_LANE_BYTES`] wait in the session's lane.
    LaneBytes,
    /// [`MAX_QUEUED_BYTES`] wait in all lanes.
    NodeBytes,
}

/// Counts a job (and its bytes) out of its lane when it ends, even by a
/// panic.
struct JobGuard {
    depth: Arc<AtomicUsize>,
    lane_bytes: Arc<AtomicUsize>,
    all_bytes: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.depth.fetch_sub(1, Ordering::AcqRel);
        self.lane_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        self.all_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// The tail of every session's lane. Owned by the serving loop (no lock).
#[derive(Default)]
pub(crate) struct SessionLanes {
    lanes: HashMap<SessionId, Lane>,
    prune_at: usize,
    /// Request bytes waiting in every lane.
    queued: Arc<AtomicUsize>,
}

impl SessionLanes {
    /// Whether `session`'s lane takes one more job of `bytes` request bytes.
    pub(crate) fn room(&self, session: SessionId, bytes: usize) -> Result<(), LaneFull> {
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued.saturating_add(bytes) > MAX_QUEUED_BYTES {
            return Err(LaneFull::NodeBytes);
        }
        let Some(lane) = self.lanes.get(&session) else { return Ok(()) };
        if lane.depth.load(Ordering::Acquire) >= MAX_LANE_DEPTH {
            return Err(LaneFull::Depth);
        }
        let waiting = lane.bytes.load(Ordering::Acquire);
        if waiting > 0 && waiting.saturating_add(bytes) > MAX_LANE_BYTES {
            return Err(LaneFull::LaneBytes);
        }
        Ok(())
    }

    /// Runs `job` (of `bytes` request bytes) after every job queued before
    /// it for `session`.
    pub(crate) fn run<F>(&mut self, session: SessionId, bytes: usize, job: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (previous, depth, lane_bytes) = match self.lanes.remove(&session) {
            Some(lane) => (Some(lane.tail), lane.depth, lane.bytes),
            None => (None, Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))),
        };
        depth.fetch_add(1, Ordering::AcqRel);
        lane_bytes.fetch_add(bytes, Ordering::AcqRel);
        self.queued.fetch_add(bytes, Ordering::AcqRel);
        let guard =
            JobGuard { depth: depth.clone(), lane_bytes: lane_bytes.clone(), all_bytes: self.queued.clone(), bytes };
        let tail = tokio::spawn(async move {
            let _guard = guard;
            if let Some(previous) = previous {
                // A job that panicked still ends its turn.
                let _ = previous.await;
            }
            job.await;
        });
        self.lanes.insert(session, Lane { tail, depth, bytes: lane_bytes });
        if self.lanes.len() > self.prune_at.max(PRUNE_FLOOR) {
            self.lanes.retain(|_, lane| !lane.tail.is_finished());
            self.prune_at = self.lanes.len() * 2;
        }
    }

    /// Lanes held (finished ones may not be pruned yet).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lanes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::sync::oneshot;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_of_a_session_keep_their_order_and_others_do_not_wait() {
        let mut lanes = SessionLanes::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (a, b) = (SessionId::new(), SessionId::new());
        let (release, held) = oneshot::channel::<()>();
        let l = log.clone();
        lanes.run(a, 1, async move {
            let _ = held.await;
            l.lock().expect("log").push("a1");
        });
        let l = log.clone();
        lanes.run(a, 1, async move { l.lock().expect("log").push("a2") });
        let (b_done, b_seen) = oneshot::channel();
        let l = log.clone();
        lanes.run(b, 1, async move {
            l.lock().expect("log").push("b1");
            let _ = b_done.send(());
        });
        b_seen.await.expect("b runs while a's first job is held");
        assert_eq!(*log.lock().expect("log"), ["b1"]);
        let (a_done, a_seen) = oneshot::channel();
        lanes.run(a, 1, async move {
            let _ = a_done.send(());
        });
        release.send(()).expect("release");
        a_seen.await.expect("a's lane drains");
        assert_eq!(*log.lock().expect("log"), ["b1", "a1", "a2"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_lane_refuses_more_and_counts_every_job_out() {
        let mut lanes = SessionLanes::default();
        let (id, other) = (SessionId::new(), SessionId::new());
        let (release, held) = tokio::sync::watch::channel(false);
        for _ in 0..MAX_LANE_DEPTH {
            assert_eq!(lanes.room(id, 1), Ok(()));
            let mut held = held.clone();
            lanes.run(id, 1, async move {
                let _ = held.wait_for(|r| *r).await;
            });
        }
        assert_eq!(lanes.room(id, 1), Err(LaneFull::Depth), "a full lane refuses more");
        assert_eq!(lanes.room(other, 1), Ok(()), "other sessions are not affected");
        release.send(true).expect("release");
        let lane = lanes.lanes.remove(&id).expect("lane");
        lane.tail.await.expect("the lane drains");
        assert_eq!(lane.depth.load(Ordering::Acquire), 0, "every job counted out");
        assert_eq!(lane.bytes.load(Ordering::Acquire), 0, "every byte counted out");
        assert_eq!(lanes.queued.load(Ordering::Acquire), 0, "every byte counted out of the node");
    }

    /// A few large requests fill a lane long before its depth does: what
    /// waits is bounded in bytes, per session and for all sessions.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_waits_in_lanes_is_bounded_in_bytes() {
        const BIG: usize = 256 * 1024;
        let mut lanes = SessionLanes::default();
        let (release, held) = tokio::sync::watch::channel(false);
        let park = |lanes: &mut SessionLanes, id: SessionId, bytes: usize| {
            let mut held = held.clone();
            lanes.run(id, bytes, async move {
                let _ = held.wait_for(|r| *r).await;
            });
        };
        let first = SessionId::new();
        let mut n = 0;
        while lanes.room(first, BIG).is_ok() {
            park(&mut lanes, first, BIG);
            n += 1;
        }
        assert_eq!(n, MAX_LANE_BYTES / BIG, "a lane holds {MAX_LANE_BYTES} bytes of requests");
        assert_eq!(lanes.room(first, BIG), Err(LaneFull::LaneBytes));
        // A request larger than a lane's bound still goes into an empty one.
        let huge = SessionId::new();
        assert_eq!(lanes.room(huge, MAX_LANE_BYTES * 2), Ok(()));
        // Many sessions together stop at the node's bound.
        let mut sessions = 1;
        'fill: loop {
            let id = SessionId::new();
            sessions += 1;
            while lanes.room(id, BIG).is_ok() {
                park(&mut lanes, id, BIG);
            }
            if lanes.room(id, BIG) == Err(LaneFull::NodeBytes) {
                break 'fill;
            }
        }
        assert_eq!(sessions, MAX_QUEUED_BYTES / MAX_LANE_BYTES, "filled at {sessions} sessions");
        assert_eq!(lanes.room(SessionId::new(), BIG), Err(LaneFull::NodeBytes), "a new session waits too");
        assert_eq!(lanes.queued.load(Ordering::Acquire), MAX_QUEUED_BYTES);
        release.send(true).expect("release");
        let tails: Vec<_> = lanes.lanes.drain().map(|(_, l)| l.tail).collect();
        for tail in tails {
            tail.await.expect("the lane drains");
        }
        assert_eq!(lanes.queued.load(Ordering::Acquire), 0, "every byte counted out");
        assert_eq!(lanes.room(first, BIG), Ok(()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_does_not_block_its_lane_and_finished_lanes_are_pruned() {
        let mut lanes = SessionLanes::default();
        let id = SessionId::new();
        lanes.run(id, 1, async { panic!("a handler bug") });
        let (done, seen) = oneshot::channel();
        lanes.run(id, 1, async move {
            let _ = done.send(());
        });
        seen.await.expect("the next job runs");
        let mut last = None;
        for _ in 0..(PRUNE_FLOOR * 3) {
            let (done, seen) = oneshot::channel();
            lanes.run(SessionId::new(), 1, async move {
                let _ = done.send(());
            });
            if let Some(prev) = last.replace(seen) {
                let _ = prev.await;
            }
        }
        assert!(lanes.len() <= PRUNE_FLOOR * 2 + 1, "finished lanes are pruned: {}", lanes.len());
    }
}
