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

struct Lane {
    tail: JoinHandle<()>,
    depth: Arc<AtomicUsize>,
}

/// Counts a job out of its lane when it ends, even by a panic.
struct DepthGuard(Arc<AtomicUsize>);

impl Drop for DepthGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The tail of every session's lane. Owned by the serving loop (no lock).
#[derive(Default)]
pub(crate) struct SessionLanes {
    lanes: HashMap<SessionId, Lane>,
    prune_at: usize,
}

impl SessionLanes {
    /// Whether `session`'s lane takes one more job.
    pub(crate) fn has_room(&self, session: SessionId) -> bool {
        self.lanes.get(&session).is_none_or(|l| l.depth.load(Ordering::Acquire) < MAX_LANE_DEPTH)
    }

    /// Runs `job` after every job queued before it for `session`.
    pub(crate) fn run<F>(&mut self, session: SessionId, job: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (previous, depth) = match self.lanes.remove(&session) {
            Some(lane) => (Some(lane.tail), lane.depth),
            None => (None, Arc::new(AtomicUsize::new(0))),
        };
        depth.fetch_add(1, Ordering::AcqRel);
        let guard = DepthGuard(depth.clone());
        let tail = tokio::spawn(async move {
            let _guard = guard;
            if let Some(previous) = previous {
                // A job that panicked still ends its turn.
                let _ = previous.await;
            }
            job.await;
        });
        self.lanes.insert(session, Lane { tail, depth });
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
        lanes.run(a, async move {
            let _ = held.await;
            l.lock().expect("log").push("a1");
        });
        let l = log.clone();
        lanes.run(a, async move { l.lock().expect("log").push("a2") });
        let (b_done, b_seen) = oneshot::channel();
        let l = log.clone();
        lanes.run(b, async move {
            l.lock().expect("log").push("b1");
            let _ = b_done.send(());
        });
        b_seen.await.expect("b runs while a's first job is held");
        assert_eq!(*log.lock().expect("log"), ["b1"]);
        let (a_done, a_seen) = oneshot::channel();
        lanes.run(a, async move {
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
            assert!(lanes.has_room(id));
            let mut held = held.clone();
            lanes.run(id, async move {
                let _ = held.wait_for(|r| *r).await;
            });
        }
        assert!(!lanes.has_room(id), "a full lane refuses more");
        assert!(lanes.has_room(other), "other sessions are not affected");
        release.send(true).expect("release");
        let lane = lanes.lanes.remove(&id).expect("lane");
        lane.tail.await.expect("the lane drains");
        assert_eq!(lane.depth.load(Ordering::Acquire), 0, "every job counted out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_job_does_not_block_its_lane_and_finished_lanes_are_pruned() {
        let mut lanes = SessionLanes::default();
        let id = SessionId::new();
        lanes.run(id, async { panic!("a handler bug") });
        let (done, seen) = oneshot::channel();
        lanes.run(id, async move {
            let _ = done.send(());
        });
        seen.await.expect("the next job runs");
        let mut last = None;
        for _ in 0..(PRUNE_FLOOR * 3) {
            let (done, seen) = oneshot::channel();
            lanes.run(SessionId::new(), async move {
                let _ = done.send(());
            });
            if let Some(prev) = last.replace(seen) {
                let _ = prev.await;
            }
        }
        assert!(lanes.len() <= PRUNE_FLOOR * 2 + 1, "finished lanes are pruned: {}", lanes.len());
    }
}
